import pytest

from gis.errors import StakeFormatError
from gis.stakes import format_stake, parse_stake


@pytest.mark.parametrize(
    "text, metres",
    [
        ("K3+250", 3250.0),
        ("k3+250.5", 3250.5),
        ("3+250", 3250.0),
        ("K3+250m", 3250.0),
        ("K3+250M", 3250.0),
        ("K0+000", 0.0),
        ("K12+350", 12350.0),
        (" K 12 + 350 ", 12350.0),
        ("Ｋ3＋250", 3250.0),  # full-width, as typed with a Chinese IME
        ("K3+5", 3005.0),
        ("K125+999.9", 125999.9),
        (3250, 3250.0),
    ],
)
def test_parse_stake(text, metres):
    assert parse_stake(text) == pytest.approx(metres)


@pytest.mark.parametrize(
    "text", ["K3+1250", "abc", "K3", "3250+", "K-1+200", "", "K3+25a", "K3++250", "+250", -5]
)
def test_parse_stake_rejects(text):
    with pytest.raises(StakeFormatError) as exc:
        parse_stake(text)
    assert "K3+250" in str(exc.value)  # the message shows what is expected


@pytest.mark.parametrize(
    "metres, text",
    [
        (3250.4, "K3+250"),
        (12350, "K12+350"),
        (0, "K0+000"),
        (999.6, "K1+000"),
        (5, "K0+005"),
        (100000, "K100+000"),
    ],
)
def test_format_stake(metres, text):
    assert format_stake(metres) == text


def test_format_stake_decimals_and_round_trip():
    assert format_stake(3250.44, decimals=1) == "K3+250.4"
    for m in (0.0, 1.5, 999.0, 3250.0, 12345.6):
        assert parse_stake(format_stake(m, decimals=1)) == pytest.approx(m)
