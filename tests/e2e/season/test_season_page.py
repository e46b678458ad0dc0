"""The planner's page in a real browser: type a strategy, click, watch the agents,
see the plan and its chart of the weekly curve."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from playwright.async_api import Page, expect

ZARA = (
    "12-week season starting March 1 2025, no replenishment, nothing held back at "
    "the DC"
)
SCREENSHOT_ENV = "SEASON_SCREENSHOT"


async def test_plan_a_season_in_the_browser(
    page: Page, season_site: str, tmp_path: Path
) -> None:
    """Typing a strategy and clicking the button streams each agent to completed,
    then shows the plan's figures and one chart bar per forecast week."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{season_site}/season/")
    await expect(page.locator("#category option")).to_have_count(5)
    await page.locator("#strategy").fill(ZARA)
    await page.locator("#category").select_option("CAT003")
    await page.locator("#plan").click()

    await expect(page.locator("#result")).to_be_visible(timeout=20_000)
    for agent in ("parameters", "context", "demand", "inventory"):
        state = page.locator(f'#agents li[data-agent="{agent}"] .state')
        await expect(state).to_have_text("completed")
    await expect(page.locator("#progress")).to_have_js_property("value", 1)
    await expect(page.locator('dd[data-field="category"]')).to_have_text("CAT003")
    await expect(page.locator('dd[data-field="season"]')).to_contain_text(
        "2025-03-01 → 2025-05-24 (12 weeks)"
    )
    await expect(page.locator('dd[data-field="safety-stock"]')).to_have_text("× 1.25")
    forecast = await page.locator('dd[data-field="forecast"]').inner_text()
    manufacture = await page.locator('dd[data-field="manufacture"]').inner_text()
    units = [int(re.sub(r"\D", "", text)) for text in (forecast, manufacture)]
    assert units[1] == round(units[0] * 1.25), (
        f"expected manufacture = forecast × 1.25, got {forecast!r} and {manufacture!r}"
    )
    bars = page.locator("#chart rect.bar")
    await expect(bars).to_have_count(12)
    heights = [
        float(await bar.get_attribute("height") or 0) for bar in await bars.all()
    ]
    assert all(height > 0 for height in heights), f"expected visible bars: {heights}"
    await expect(page.locator("#clusters tr")).to_have_count(3)
    await expect(page.locator("#stream")).to_contain_text("complete")
    assert errors == [], f"expected no script errors, got {errors}"

    shot = tmp_path / "season.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000, "expected a real screenshot"
    if target := os.environ.get(SCREENSHOT_ENV):
        shutil.copyfile(shot, target)


async def test_unreadable_strategy_shows_the_error(
    page: Page, season_site: str
) -> None:
    """A strategy without a DC holdback shows the 422 naming the missing parameter,
    and the button can be used again."""
    await page.goto(f"{season_site}/season/")
    await expect(page.locator("#category option")).to_have_count(5)
    await page.locator("#strategy").fill("26 weeks from 15 May 2025, weekly restock")
    await page.locator("#plan").click()
    await expect(page.locator("#error")).to_contain_text(
        "ParameterExtractionError (422)"
    )
    await expect(page.locator("#error")).to_contain_text("dc_holdback_percentage")
    await expect(page.locator("#plan")).to_be_enabled()
    await expect(
        page.locator('#agents li[data-agent="parameters"] .state')
    ).to_have_text("failed")
    await expect(page.locator("#result")).to_be_hidden()
