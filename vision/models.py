"""Tables of the vision subsystem.

``AnalysisRequest``  one (photo, detector, model version): the durable to-do item that
                     survives a Redis or worker outage; the sweeper re-enqueues what is left.
``Detection``        one box a detector found, with the supervisor's verdict.
``VisionSubject``    which synced records refer to which photo, so results find their records.
"""
from server.clock import utcnow
from server.extensions import db

STATES = ("pending", "running", "done", "failed")
REVIEW = ("suggested", "confirmed", "dismissed")


class AnalysisRequest(db.Model):
    __tablename__ = "vision_requests"
    __table_args__ = (db.UniqueConstraint("sha256", "detector", "model_version"),)

    id = db.Column(db.Integer, primary_key=True)
    sha256 = db.Column(db.String(64), nullable=False, index=True)
    detector = db.Column(db.String(60), nullable=False)
    model_version = db.Column(db.String(80), nullable=False)
    state = db.Column(db.String(10), nullable=False, default="pending", index=True)
    attempts = db.Column(db.Integer, nullable=False, default=0)
    reason = db.Column(db.String(500))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    started_at = db.Column(db.DateTime)
    finished_at = db.Column(db.DateTime)
    # Seconds spent in the model (inference only), for the benchmark and the operators.
    seconds = db.Column(db.Float)

    @property
    def job_id(self):
        return job_id(self.detector, self.model_version, self.sha256)

    def to_dict(self):
        return {"id": self.id, "sha256": self.sha256, "detector": self.detector,
                "model_version": self.model_version, "state": self.state, "attempts": self.attempts,
                "reason": self.reason}


def job_id(detector, model_version, sha256):
    return f"vision-{detector}-{model_version}-{sha256}"


class Detection(db.Model):
    __tablename__ = "vision_detections"
    __table_args__ = (db.UniqueConstraint("request_id", "index"),)

    id = db.Column(db.Integer, primary_key=True)
    request_id = db.Column(db.Integer, db.ForeignKey("vision_requests.id"), nullable=False, index=True)
    index = db.Column(db.Integer, nullable=False)  # position in the detector's output
    sha256 = db.Column(db.String(64), nullable=False, index=True)
    detector = db.Column(db.String(60), nullable=False)
    model_version = db.Column(db.String(80), nullable=False)
    label = db.Column(db.String(80), nullable=False)        # the model's class name
    hazard_code = db.Column(db.String(60), nullable=False, index=True)
    confidence = db.Column(db.Float, nullable=False)
    # Pixel box (x1, y1, x2, y2) in the original image, and its size.
    x1 = db.Column(db.Float, nullable=False)
    y1 = db.Column(db.Float, nullable=False)
    x2 = db.Column(db.Float, nullable=False)
    y2 = db.Column(db.Float, nullable=False)
    image_width = db.Column(db.Integer, nullable=False)
    image_height = db.Column(db.Integer, nullable=False)
    review = db.Column(db.String(10), nullable=False, default="suggested", index=True)
    reviewed_by_id = db.Column(db.Integer, db.ForeignKey("users.id"))
    reviewed_at = db.Column(db.DateTime)
    review_comment = db.Column(db.String(500))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    @property
    def box(self):
        return [round(self.x1, 1), round(self.y1, 1), round(self.x2, 1), round(self.y2, 1)]


class VisionSubject(db.Model):
    """A synced record that shows a photo (hazard.photos, inspection items[].evidence, ...)."""
    __tablename__ = "vision_subjects"

    sha256 = db.Column(db.String(64), primary_key=True)
    entity = db.Column(db.String(40), primary_key=True)
    record_id = db.Column(db.String(36), primary_key=True, index=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
