"""Media (issue #4): resumable uploads (tus 1.0), content-addressed blob storage on disk or
S3, photo and voice handling, blob serving with range requests, evidence integrity.

Modules, one job each:

* ``storage``   the blob store interface: local folder and S3 (boto3)
* ``models``    tables: blobs, blob_refs, uploads
* ``inspect``   what the bytes are: type sniffing, EXIF, photo variants, voice durations
* ``blobs``     verify, store once, variants, references, who may fetch; ``store_bytes``
* ``uploads``   the tus protocol's rules (offsets, checksums, expiry, limits), no HTTP
* ``evidence``  re-hash a record's blobs and report ok / mismatch / missing
* ``signals``   ``blob_stored`` (sent after commit)
* ``views``     the HTTP endpoints; ``cli`` the ``flask media`` commands
"""


def init_app(app):
    from . import blobs, cli, models, views  # noqa: F401  (models: register tables for Alembic)
    from sync import registry
    app.register_blueprint(views.uploads_bp)
    app.register_blueprint(views.blobs_bp)
    cli.init_app(app)
    blobs.connect_signals(app)
    if blobs.index_refs not in registry.after_apply_many:
        registry.after_apply_many.append(blobs.index_refs)
