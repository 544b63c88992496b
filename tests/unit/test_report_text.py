"""How figures read in pages and files: percentages and file names."""

from campuspulse.server.reports.commission import file_name
from campuspulse.server.web.charts import percent


def test_percentages_round_half_up_and_commission_files_are_named_once():
    assert percent(13 / 16) == "81.3%" and percent(0.0005) == "0.1%" and percent(None) == "—"
    assert percent(round(1 / 3, 6)) == "33.3%" and percent(1.0) == "100.0%"
    assert file_name("city", "", "2026-11-01") == "campuspulse-commission-city-2026-11-01.xlsx"
    assert file_name("district", "haidian", "2026-11-01") == "campuspulse-commission-district-haidian-2026-11-01.xlsx"
