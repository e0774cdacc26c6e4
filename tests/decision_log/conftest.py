from tests.databases import database_url, store  # noqa: F401  (fixtures)
