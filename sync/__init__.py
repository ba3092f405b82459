"""The sync protocol: idempotent push, gap-free cursor pull, conflicts and scoping.

Independent of Flask where it can be; ``sync.views`` exposes it over HTTP.
"""
