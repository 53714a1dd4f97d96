"""A small retrieval test set: a fictional support knowledge base and questions.

`semantic` questions paraphrase their passage; `lexical` ones hinge on an exact
identifier (error code, SKU, person, product name). Used by benchmarks/rag_bench.py
to decide whether hybrid (dense + BM25) retrieval earns its place.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

PASSAGES: tuple[str, ...] = (
    "Orders placed before 2 pm ship the same working day; later orders ship the next day.",
    "Standard delivery takes three to five working days within the country.",
    "Express delivery arrives the next working day and costs 9.90 euros.",
    "You can return unused items within 30 days of delivery for a full refund.",
    "Refunds are paid back to the original payment method within five business days.",
    "To reset your password, click 'Forgot password' on the sign-in page and follow the email.",
    "Two-factor authentication can be enabled under Settings > Security > Two-factor.",
    "Error E-4021 means the card issuer declined the payment; try another card.",
    "Error E-5003 appears when the session expired; sign in again to continue.",
    "Error E-7710 indicates the warehouse could not reserve stock for an item.",
    "The Aurora X2 blender has a 1200 W motor and a two-year warranty.",
    "The Aurora X3 blender adds a vacuum mode and carries a three-year warranty.",
    "The Borealis kettle boils 1.7 litres and switches off automatically.",
    "SKU 88-A is the replacement jug for the Aurora X2; SKU 88-B fits the Aurora X3.",
    "SKU 41-K is the descaling kit for the Borealis kettle.",
    "Our customer care line is open Monday to Friday from 8 am to 6 pm.",
    "On public holidays the customer care line is closed; email support remains open.",
    "Dr. Amara Okonkwo leads the product safety team and signs all recall notices.",
    "Marek Novak is the data protection officer; contact him about personal data requests.",
    "Gift vouchers are valid for two years and cannot be exchanged for cash.",
    "Student discount of 15 percent applies with a valid student card at checkout.",
    "We deliver to Austria, Belgium, France, Germany and the Netherlands.",
    "Large appliances are delivered by a two-person crew who can take the old unit away.",
    "Installation of dishwashers is available for 49 euros in selected regions.",
    "Invoices are emailed as PDF after shipping and can be downloaded from your account.",
    "Company accounts can pay by bank transfer with 30 day payment terms.",
    "Loyalty points are earned at one point per euro and expire after 24 months.",
    "Product recall RC-2024-07 concerns Borealis kettles made in March 2024.",
    "Our warehouse in Leipzig handles all shipments to Eastern Europe.",
    "Price match: we refund the difference if a competitor sells the same item cheaper.",
)

#: (question, index of the answering passage, kind)
QUESTIONS: tuple[tuple[str, int, str], ...] = (
    ("If I order in the afternoon, when will it be sent?", 0, "semantic"),
    ("How long does normal shipping take?", 1, "semantic"),
    ("Can I get my parcel tomorrow?", 2, "semantic"),
    ("I changed my mind about a purchase, can I send it back?", 3, "semantic"),
    ("When will I see my money again after a return?", 4, "semantic"),
    ("I can't remember my login details", 5, "semantic"),
    ("How do I make my account more secure?", 6, "semantic"),
    ("Who do I call and when are you reachable by phone?", 15, "semantic"),
    ("Can I turn a voucher into money?", 19, "semantic"),
    ("Is there a reduced price for people at university?", 20, "semantic"),
    ("Which countries do you ship to?", 21, "semantic"),
    ("Will you take my old fridge when the new one arrives?", 22, "semantic"),
    ("Where can I find my bill?", 24, "semantic"),
    ("What if I find the product cheaper elsewhere?", 29, "semantic"),
    ("Do my reward points run out?", 26, "semantic"),
    ("What does E-4021 mean?", 7, "lexical"),
    ("I see E-5003 on screen", 8, "lexical"),
    ("E-7710", 9, "lexical"),
    ("Aurora X3 warranty", 11, "lexical"),
    ("Aurora X2 motor power", 10, "lexical"),
    ("What is SKU 88-B?", 13, "lexical"),
    ("41-K", 14, "lexical"),
    ("Who is Amara Okonkwo?", 17, "lexical"),
    ("How do I reach Marek Novak?", 18, "lexical"),
    ("RC-2024-07", 27, "lexical"),
    ("Borealis capacity", 12, "lexical"),
    ("Leipzig warehouse", 28, "lexical"),
    ("dishwasher installation price", 23, "lexical"),
    ("bank transfer payment terms for company accounts", 25, "lexical"),
    ("customer care on public holidays", 16, "lexical"),
)


_TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_STOPWORD_TEXT = (
    "a an and are as at be by can do does for from how i if in is it me my of on or our "
    "the to was we what when where which who will with you your"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def lexical_tokens(text: str) -> list[str]:
    """Words, plus hyphenated codes kept whole (`e-4021`) and split (`e`, `4021`)."""
    out: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        if token in _STOPWORDS:
            continue
        out.append(token)
        if "-" in token:
            out.extend(token.split("-"))
    return out


def bm25_scores(docs: list[list[str]], query: list[str], k1: float = 1.2, b: float = 0.75) -> Any:
    n = len(docs)
    avg = sum(len(d) for d in docs) / n
    df: dict[str, int] = {}
    for d in docs:
        for t in set(d):
            df[t] = df.get(t, 0) + 1
    scores = np.zeros(n)
    for i, d in enumerate(docs):
        for t in set(query):
            f = d.count(t)
            if f:
                idf = np.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                scores[i] += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * len(d) / avg))
    return scores


def rrf(rankings: list[list[int]], k: int = 60) -> list[int]:
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking):
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (k + rank + 1)
    return sorted(fused, key=lambda d: -fused[d])
