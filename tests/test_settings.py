"""Each default is written once, in chalicelib/settings.py; what else names
one is checked against it."""
import re
from pathlib import Path

from chalicelib import settings

ROOT = Path(__file__).resolve().parent.parent


def readme_rows():
    """The README's settings table: (names, default cell) of each row."""
    for line in (ROOT / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            yield re.findall(r"`([A-Z_]+)`", cells[0]), cells[1]


def test_the_readmes_table_gives_each_numbers_default_and_bounds_as_settings_do():
    checked = set()
    for names, cell in readme_rows():
        numbers = [name for name in names if name in settings.NUMBERS]
        if not numbers:
            continue
        written = re.findall(r"`([\d.]+)`", cell)
        assert written == [f"{settings.NUMBERS[name][0]:g}" for name in numbers], names
        bounds = re.search(r"\((\d+)–(\d+)\)", cell)
        if bounds:
            assert [tuple(map(int, bounds.groups()))] == \
                [settings.NUMBERS[name][1:] for name in numbers], names
        checked.update(numbers)
    assert checked == set(settings.NUMBERS)


def test_the_longest_generation_delay_is_sqss():
    assert settings.NUMBERS["GENERATION_DELAY_SECONDS"][2] == settings.MAX_DELAY_SECONDS == 900
