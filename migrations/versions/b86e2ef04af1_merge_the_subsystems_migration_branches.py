"""merge the subsystems' migration branches

Revision ID: b86e2ef04af1
Revises: 1531ea345dbc, 4e191984e931, 997c8c3dd3c4, aa4b5bb971a4, b0b75e8299bf, e73ef9f08ee4
Create Date: 2026-11-30 07:10:11.889594

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b86e2ef04af1'
down_revision = ('1531ea345dbc', '4e191984e931', '997c8c3dd3c4', 'aa4b5bb971a4', 'b0b75e8299bf', 'e73ef9f08ee4')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
