import pytest

from bank.demo import demo_csv_mapping_ensure


@pytest.fixture
def csv_mapping(db):
    return demo_csv_mapping_ensure()
