import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coworking_billing.settings")

app = Celery("coworking_billing")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def database_connections_tidy(sender=None, **kwargs) -> None:
    """Around each task a worker runs, what Django does around each request: close the database connection once it
    is older than CONN_MAX_AGE or broken, and keep it otherwise. (Celery's own Django fixup would open a new
    connection for every task, a new PostgreSQL backend each time; CELERY_DB_REUSE_MAX in the settings stops it.)
    Tasks run eagerly, inside the caller's transaction, are left alone."""
    if sender is None or getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
