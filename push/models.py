"""Push subscriptions (one per device) and each user's notification preferences."""
from server.clock import utcnow
from server.extensions import db

# What a user can be told about; each can be switched off per user.
KINDS = {
    "assignment": "处置单指派给我",
    "case_returned": "我的案件被退回",
    "case_approved": "我的案件已通过",
    "signature_needed": "文书待我签发",
    "detection": "辖区内发现高危隐患",
    "overdue": "处置单逾期",
    "warning": "预警信息",
}


class PushSubscription(db.Model):
    __tablename__ = "push_subscriptions"

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, index=True)
    device_pk = db.Column(db.Integer, db.ForeignKey("devices.id"), nullable=False, unique=True)
    endpoint = db.Column(db.String(1000), nullable=False, unique=True)
    p256dh = db.Column(db.String(200), nullable=False)
    auth = db.Column(db.String(100), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    last_success_at = db.Column(db.DateTime)

    def info(self):
        """The subscription as pywebpush expects it."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


class NotificationOptOut(db.Model):
    """A kind of notification a user chose not to receive (absent row = receive)."""
    __tablename__ = "notification_opt_outs"

    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), primary_key=True)
    kind = db.Column(db.String(30), primary_key=True)
