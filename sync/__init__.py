"""The sync protocol: idempotent push, gap-free cursor pull, conflicts and scoping.

Independent of Flask where it can be; ``sync.views`` exposes it over HTTP.
"""


def init_app(app):
    from . import models  # noqa: F401  (register tables)
    from . import entities, openapi, views

    entities.register_defaults()
    app.register_blueprint(views.bp)
    openapi.init_app(app)

    from . import registry

    @app.errorhandler(registry.Rejected)
    def _rejected(e):
        # A direct (non-sync) API that let Rejected escape: the same problem document.
        from server.errors import problem
        title = {403: "无权执行此操作 Forbidden", 404: "未找到 Not found", 409: "与当前状态冲突 Conflict"}.get(
            e.status, "数据校验未通过 Validation failed")
        return problem(e.status, title, "操作未被接受，请按 errors 逐项处理。", e.errors)
