"""The database's migrations (Alembic): env.py, and one hand-written script per revision in versions/."""
