import logging
import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coworking_billing.settings")

app = Celery("coworking_billing")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)


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


@worker_init.connect
def database_connect_in_pool_processes(**kwargs) -> None:
    """Each process of the worker's pool opens its database connection as it starts, not in its first task.
    Connected here, when the worker starts, so that it runs after Celery's Django fixup, which closes the
    connections a pool process inherits at the same signal."""
    worker_process_init.connect(_database_connect, weak=False)


def _database_connect(**kwargs) -> None:
    from django.db import DatabaseError, connection

    try:
        connection.ensure_connection()
    except DatabaseError as error:  # the first task connects, or reports the error
        logger.warning("The worker process could not connect to the database yet: %s", error)
