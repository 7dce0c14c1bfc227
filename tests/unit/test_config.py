import pytest

from claimpulse.config import ConfigError, default_settings, load_config


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_ship_internal_targets_and_the_cn_clock_pack():
    s = load_config(None)
    assert s.timezone == "Asia/Shanghai" and s.currency == "CNY" and s.schema == "claimpulse"
    std = {x.id: x for x in s.standards}
    # internal lag targets only: the statutory limits are service clocks (CLOCKS.md)
    assert set(std) == {"internal_decision_30d", "internal_payment_10d"}
    assert not any("prc" in i or "art" in i for i in std)
    assert std["internal_decision_30d"].max == 30
    assert std["internal_decision_30d"].applies_to == {"complexity": "complex"}
    assert std["internal_payment_10d"].measure == "decision_to_payment_days"
    assert std["internal_payment_10d"].max == 10
    assert [(e.pack, e.regions) for e in s.clock_packs] == [("CN", "all")]
    assert s.clocks == [] and s.calendar_overrides == {} and s.disabled_clocks == []


def test_file_overrides_a_subset(tmp_path):
    s = load_config(write(tmp_path, "timezone: Europe/Berlin\nrates: {travel_per_trip: 80}\n"))
    assert s.timezone == "Europe/Berlin"
    assert s.rates.travel_per_trip == 80 and s.rates.lost_work_per_hour == 50  # nested merge
    assert s.source_timezone == "Asia/Shanghai"


@pytest.mark.parametrize("text, key", [
    ("timezon: Asia/Shanghai\n", "timezon"),
    ("rates: {travel_per_trip: lots}\n", "rates.travel_per_trip"),
    ("rates: {bus_fare: 3}\n", "rates.bus_fare"),
    ("timezone: Mars/Olympus\n", "timezone"),
    ("schema: 'x; drop table y'\n", "schema"),
    ("standards: [{id: s1, measure: nonsense, max: 1, target_rate: 0.9}]\n", "standards.0.measure"),
    ("standards: [{id: s1, measure: trips, max: 1, target_rate: 1.5}]\n", "standards.0.target_rate"),
    ("product_lines: auto\n", "product_lines"),
])
def test_unknown_key_or_wrong_type_names_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert key in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_env_var_selects_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAIMPULSE_CONFIG", str(write(tmp_path, "currency: USD\n")))
    assert load_config(None).currency == "USD"


def test_default_settings_overrides():
    assert default_settings(timezone="America/New_York").tz.key == "America/New_York"


def test_rollup_marker_is_not_a_dimension_value(tmp_path):
    with pytest.raises(ConfigError, match="channels"):
        load_config(write(tmp_path, "channels: [app, ALL]\n"))
