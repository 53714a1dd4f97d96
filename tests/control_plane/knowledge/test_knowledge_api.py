"""The knowledge API end to end: real documents in, the right chunks out, and
nothing of one organisation reachable from another."""

from __future__ import annotations

from rag.service import KnowledgeService
from tests.control_plane.knowledge.conftest import TEST_MAX_FILE_BYTES, new_kb
from tests.control_plane.support import Api
from tests.rag.ragdocs import make_csv, make_docx, make_json, make_zip_bomb

TXT = (
    b"Returns policy\n\nItems can be returned within thirty days with the receipt.\n\n"
    b"Shipping\n\nParcels leave the warehouse every Tuesday by courier."
)


async def test_each_type_is_indexed_and_found(api: Api, knowledge: KnowledgeService) -> None:
    kb = await new_kb(api)
    await kb.indexed("policy.txt", TXT)
    await kb.indexed(
        "prices.csv",
        make_csv([["product", "price"], ["kettle", "25 euros"], ["toaster", "40 euros"]]),
        category="prices",
    )
    await kb.indexed(
        "manual.docx",
        make_docx("Manual", [("Descaling", ["Descale the espresso machine with citric acid."])]),
    )
    await kb.indexed("office.json", make_json({"office": {"city": "Lyon", "floor": "seventh"}}))

    assert "thirty days" in (await kb.search("returned receipt"))[0]["text"]
    top = (await kb.search("toaster price"))[0]
    assert "toaster" in top["text"] and top["source"].startswith("prices.csv row")
    assert "citric acid" in (await kb.search("descale espresso machine"))[0]["text"]
    assert "Lyon" in (await kb.search("office city"))[0]["text"]
    # The category filter keeps only that category's chunks.
    hits = await kb.search("price", category="prices", top_k=50)
    assert hits and all(h["category"] == "prices" for h in hits)

    docs = (await api.call("GET", f"/v1/knowledge-bases/{kb.id}/documents", kb.owner)).json()
    assert sorted(d["filename"] for d in docs) == [
        "manual.docx",
        "office.json",
        "policy.txt",
        "prices.csv",
    ]
    assert all(d["state"] == "indexed" and d["chunks"] > 0 for d in docs)


async def test_top_k_is_bounded(api: Api, knowledge: KnowledgeService) -> None:
    kb = await new_kb(api)
    r = await api.call(
        "GET", f"/v1/knowledge-bases/{kb.id}/search", kb.owner, params={"q": "x", "top_k": 51}
    )
    assert r.status_code == 422


async def test_another_org_sees_nothing(api: Api, knowledge: KnowledgeService) -> None:
    a = await new_kb(api)
    job = await a.indexed("policy.txt", TXT)
    b = await new_kb(api, name="Other")
    await b.indexed("b.txt", b"Our cafeteria serves soup on Mondays.")
    kb, doc = a.id, job["document_id"]
    for method, path in [
        ("GET", f"/v1/knowledge-bases/{kb}"),
        ("PATCH", f"/v1/knowledge-bases/{kb}"),
        ("GET", f"/v1/knowledge-bases/{kb}/documents"),
        ("GET", f"/v1/knowledge-bases/{kb}/jobs/{job['job_id']}"),
        ("GET", f"/v1/knowledge-bases/{kb}/search?q=returned"),
        ("GET", f"/v1/knowledge-bases/search?q=returned&kb_id={kb}"),
        ("DELETE", f"/v1/knowledge-bases/{kb}/documents/{doc}"),
        ("DELETE", f"/v1/knowledge-bases/{b.id}/documents/{doc}"),
        ("GET", f"/v1/knowledge-bases/{b.id}/jobs/{job['job_id']}"),
        ("POST", f"/v1/knowledge-bases/{kb}/documents"),
        ("DELETE", f"/v1/knowledge-bases/{kb}"),
    ]:
        kw = {"json": {"description": "x"}} if method == "PATCH" else {}
        r = await api.call(method, path, b.owner, **kw)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
    # B's searches, by id or over all its knowledge bases, never return A's chunks.
    everything = await api.call(
        "GET", "/v1/knowledge-bases/search", b.owner, params={"q": "returned receipt", "top_k": 50}
    )
    assert everything.status_code == 200
    assert everything.json() and all(h["kb_id"] == b.id for h in everything.json())
    assert all("thirty" not in h["text"] for h in await b.search("returned receipt", top_k=50))
    # A's knowledge is intact.
    assert "thirty days" in (await a.search("returned receipt"))[0]["text"]


async def test_bad_uploads_are_refused_with_reasons(api: Api, knowledge: KnowledgeService) -> None:
    kb = await new_kb(api)
    bomb = await kb.upload("bomb.docx", make_zip_bomb(50 * 1024 * 1024))
    assert bomb.status_code == 422 and "zip bomb" in bomb.json()["error"]["message"]
    exe = await kb.upload("tool.exe", b"MZ\x90\x00" + b"\x00" * 64)
    assert exe.status_code == 415 and ".pdf" in exe.json()["error"]["message"]
    big = await kb.upload("big.txt", b"a " * TEST_MAX_FILE_BYTES)
    assert big.status_code == 413 and "limit" in big.json()["error"]["message"]
    missing = await api.call(
        "POST", f"/v1/knowledge-bases/{kb.id}/documents", kb.owner, json={"x": 1}
    )
    assert missing.status_code == 422
    assert await knowledge.list_documents(kb.owner.org_id or "", kb.id) == []


async def test_deleting_removes_vectors(api: Api, knowledge: KnowledgeService) -> None:
    kb = await new_kb(api)
    job = await kb.indexed("policy.txt", TXT)
    await kb.indexed("other.txt", b"The cafeteria serves soup on Mondays.")
    assert any("thirty days" in h["text"] for h in await kb.search("returned receipt"))
    r = await api.call(
        "DELETE", f"/v1/knowledge-bases/{kb.id}/documents/{job['document_id']}", kb.owner
    )
    assert r.status_code == 200
    assert all("thirty" not in h["text"] for h in await kb.search("returned receipt", top_k=50))
    # Deleting the knowledge base takes the rest of its vectors.
    org = kb.owner.org_id or ""
    assert await knowledge.search(org, [kb.id], "cafeteria soup")
    assert (await api.call("DELETE", f"/v1/knowledge-bases/{kb.id}", kb.owner)).status_code == 200
    assert await knowledge.search(org, [kb.id], "cafeteria soup") == []
    assert (await api.call("GET", f"/v1/knowledge-bases/{kb.id}", kb.owner)).status_code == 404


async def test_records_crud(api: Api, knowledge: KnowledgeService) -> None:
    kb = await new_kb(api, name="Docs")
    r = await api.call(
        "PATCH", f"/v1/knowledge-bases/{kb.id}", kb.owner, json={"tags": ["a", "b"], "name": "D2"}
    )
    assert r.status_code == 200 and r.json()["tags"] == ["a", "b"]
    dup = await api.call("POST", "/v1/knowledge-bases", kb.owner, json={"name": "D2"})
    assert dup.status_code == 409
    listed = (await api.call("GET", "/v1/knowledge-bases", kb.owner)).json()
    assert [k["name"] for k in listed] == ["D2"]
    by_name = await api.call("GET", "/v1/knowledge-bases/D2", kb.owner)
    assert by_name.json()["id"] == kb.id
