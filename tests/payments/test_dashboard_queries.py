"""The admin home costs the same few queries with a few rows and with thousands: every figure, queue and chart is
summed or counted in the database, and the recent activity is one query."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bench.dataset import dataset_build
from payments.dashboard import DashboardParts, dashboard_read
from tests.payments.admin.helpers import page_queries

FEW = {"members": 10, "invoices": 20, "payments": 100, "activities": 200}
MANY = {"members": 200, "invoices": 400, "payments": 2000, "activities": 4000}
# The session and the user, then the dashboard's reads (figures, queues, charts, activity).
MOST_QUERIES = 15
DASHBOARD_READS = 10


def dashboard_queries() -> int:
    with CaptureQueriesContext(connection) as context:
        dashboard = dashboard_read(today=timezone.localdate(), parts=DashboardParts())
        list(dashboard.recent_activity)
    return len(context.captured_queries)


@pytest.mark.django_db
def test_the_home_page_costs_the_same_few_queries_with_a_few_rows_and_with_thousands(client):
    dataset_build(**FEW)
    client.force_login(get_user_model().objects.create_superuser("home", "home@space.example", "password"))
    with_few, reads_with_few = page_queries(client, reverse("admin:index")), dashboard_queries()

    dataset_build(**MANY)
    with_many, reads_with_many = page_queries(client, reverse("admin:index")), dashboard_queries()

    assert with_many == with_few <= MOST_QUERIES
    assert reads_with_many == reads_with_few == DASHBOARD_READS
