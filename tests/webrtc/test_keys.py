from __future__ import annotations

from control_plane.webrtc.keys import KEY_PREFIX, MAX_KEY_CHARS, SettingsWidgetKeys


async def test_derived_key_grants_its_own_agent_only() -> None:
    keys = SettingsWidgetKeys("secret")
    key = keys.key_for("sales")
    assert key.startswith(KEY_PREFIX) and len(key) > 20
    assert await keys.grants(key, "sales", None)
    assert not await keys.grants(key, "support", None)
    assert not await keys.grants(keys.key_for("support"), "sales", None)


async def test_derived_keys_change_with_the_secret() -> None:
    old, new = SettingsWidgetKeys("one"), SettingsWidgetKeys("two")
    assert old.key_for("sales") != new.key_for("sales")
    assert not await new.grants(old.key_for("sales"), "sales", None)


async def test_explicit_keys_grant_listed_agents() -> None:
    keys = SettingsWidgetKeys("secret", {"pk_site": ["sales", "support"]})
    assert await keys.grants("pk_site", "sales", "https://shop.example")
    assert await keys.grants("pk_site", "support", None)
    assert not await keys.grants("pk_site", "billing", None)
    assert not await keys.grants("pk_other", "sales", None)


async def test_empty_and_oversized_keys_are_refused() -> None:
    keys = SettingsWidgetKeys("secret", {"": ["sales"], "x" * (MAX_KEY_CHARS + 1): ["sales"]})
    assert not await keys.grants("", "sales", None)
    assert not await keys.grants("x" * (MAX_KEY_CHARS + 1), "sales", None)
