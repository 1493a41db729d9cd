"""Build one full analysis object (docs/api.md §3) from its index entry and a per-record RNG."""

from __future__ import annotations

import bisect
import random
from typing import Any, NamedTuple

STATUSES = ("processing", "completed", "failed")
FORMATS = ("wav", "mp3", "m4a", "flac", "ogg")
_FORMAT_CUM = (0.5, 0.8, 0.9, 0.95)  # cumulative shares of the first four formats
_BYTES_PER_SECOND = {"wav": 32000, "mp3": 16000, "m4a": 12000, "flac": 22000, "ogg": 10000}
DISCLOSURES = ("recording_notice", "mini_miranda", "privacy_notice")
PROHIBITED = ("you have no choice", "we will sue you", "this is your last chance")
SENSITIVE = ("ssn", "credit_card", "date_of_birth", "bank_account")
SENTIMENTS = ("positive", "neutral", "negative")
ERRORS = (
    "Audio file could not be decoded",
    "Audio too short to analyse (under 2 seconds)",
    "Transcription service timed out",
)
CATEGORIES = ("compliance", "empathy", "structure", "resolution", "tone")
_LINES = {
    "en": (
        (
            "Thank you for calling, my name is Sam. How can I help you today?",
            "Hi, I have a question about my bill.",
        ),
        ("This call may be recorded for quality purposes.", "Sure, that's fine."),
        ("Can you confirm your date of birth for verification?", "It's the third of May."),
        ("I understand how frustrating that must be.", "Yes, it has been a long week."),
        ("I've applied the credit to your account.", "Great, thank you so much."),
        ("Is there anything else I can help you with?", "No, that's everything. Bye!"),
    ),
    "es": (
        ("Gracias por llamar, soy Ana. ¿En qué puedo ayudarle?", "Hola, tengo una duda."),
        ("Esta llamada puede ser grabada.", "De acuerdo."),
        ("¿Puede confirmar su fecha de nacimiento?", "Es el tres de mayo."),
        ("Entiendo su frustración.", "Gracias por entenderlo."),
        ("¿Algo más en lo que pueda ayudarle?", "No, eso es todo. ¡Adiós!"),
    ),
    "fr": (
        (
            "Merci d'avoir appelé, je m'appelle Léa. Comment puis-je vous aider ?",
            "Bonjour, j'ai une question sur ma facture.",
        ),
        ("Cet appel peut être enregistré.", "D'accord, très bien."),
        ("Pouvez-vous confirmer votre date de naissance ?", "C'est le trois mai."),
        ("Je comprends votre frustration.", "Merci beaucoup."),
        ("Puis-je vous aider pour autre chose ?", "Non, c'est tout. Au revoir !"),
    ),
}
# Why an English-speaking customer calls: (their opening line, the agent's action). A contact
# centre's everyday words, so transcript searches for them find calls.
_REASONS = (
    (
        "Hi, I'd like a refund: I was charged twice this month.",
        "I've processed the refund; it reaches your card in three to five days.",
    ),
    (
        "Hi, I want to cancel my subscription.",
        "I've cancelled the subscription from the end of this billing period.",
    ),
    (
        "I'm calling to make a complaint about the engineer's visit.",
        "I've logged this as a formal complaint and raised an escalation to my supervisor.",
    ),
    ("Hi, I have a question about my bill.", "I've applied the credit to your account."),
)
_UNICODE_LINES = (
    ("Bonjour José, ça va? 😀🎧", "مرحبا، أحتاج مساعدة في حسابي"),
    ("Zoë Ångström here — naïve café résumé ✓", "שלום, תודה רבה 🙏"),
    ("Straße, Ünïcödé, 日本語のテキスト", "e\u0301 combining, zero\u200bwidth"),
)
# Hostile kinds placed on a few deterministic records (see data.py).
HOSTILE_KINDS = (
    "unicode",
    "long_transcript",
    "formula_text",
    "extra_fields",
    "quality_missing",
    "null_nested",
    "formula_contact",
    "formula_contact",
    "formula_contact",
    "formula_contact",
    "formula_agent",
    "unicode_contact",
)


class Meta(NamedTuple):
    """The index facts about one record that the body must agree with."""

    id: str
    created: int
    status: str
    agent_id: str
    contact_id: str
    skill: float
    hostile: str | None
    completed_at: int | None
    livemode: bool


def _weighted(rng: random.Random, items: tuple[str, ...], weights: tuple[float, ...]) -> str:
    """Pick one item by weight (random.choices is slow for a single draw)."""
    x = rng.random() * sum(weights)
    for item, weight in zip(items, weights, strict=True):
        if x < weight:
            return item
        x -= weight
    return items[-1]


def _transcript(rng: random.Random, duration: float, hostile: str | None) -> dict[str, Any]:
    """Alternate agent (A) and customer (B) turns spread over the call's duration."""
    u = rng.random()
    language = "en" if u < 0.86 else "es" if u < 0.95 else "fr"
    lines = _LINES[language]
    if language == "en":
        # Picked from the draw already made, not a new one: every other field stays as it was.
        opening, action = _REASONS[int(u * 1000) % len(_REASONS)]
        lines = tuple(
            (line[0], opening) if i == 0 else (action, line[1]) if i == 4 else line
            for i, line in enumerate(lines)
        )
    # Keep the greeting and goodbye; drop some middle exchanges so calls differ.
    pairs = [lines[0], *(p for p in lines[1:-1] if rng.random() < 0.8), lines[-1]]
    if hostile == "unicode":
        pairs = [*_UNICODE_LINES, *pairs]
    turns = [line for pair in pairs for line in pair]
    if hostile == "long_transcript":
        # Repeat the call until the text passes ~50 KB to test big cells and pages.
        turns = turns * (50_000 // sum(len(t) + 1 for t in turns) + 1)
    if hostile == "formula_text":
        turns = ['=HYPERLINK("http://x","click")', "+1 555 0100", "-2+3", "@SUM(1,1)", *turns]
    # Times in whole hundredths of a second: int / 100 is as exact as round(x, 2), and cheaper.
    step = max(1, int(duration * 100) // len(turns))
    lag = int(rng.random() * step * 0.1)
    talk = step * 9 // 10
    segments = [
        {
            "speaker": "B" if i % 2 else "A",
            "text": text,
            "start": (i * step + lag) / 100,
            "end": (i * step + lag + talk) / 100,
        }
        for i, text in enumerate(turns)
    ]
    return {"text": " ".join(turns), "language": language, "segments": segments}


LATE_VERIFICATION_S = 120.0


def _results(rng: random.Random, skill: float, duration: float) -> dict[str, Any]:
    """Compliance and quality outcomes of one call by an agent of this skill.

    As in a contact centre, most calls pass every check: an agent misses each one on a few
    calls in a hundred (``1 - skill``: 1-10% for most agents, up to ~20% for the few who need
    coaching), so per-check flagged rates run from a few percent to about a fifth.
    """
    miss = 1 - skill

    def ts() -> float:
        return round(rng.uniform(0, duration), 2)

    verified = rng.random() >= miss / 2
    late = verified and duration > LATE_VERIFICATION_S + 1 and rng.random() < miss
    verified_at = None
    if verified:  # usually in the first minute; late ones after two minutes (flagged)
        early_end = min(60.0, duration)
        verified_at = round(
            rng.uniform(LATE_VERIFICATION_S + 0.5, duration)
            if late
            else rng.uniform(min(3.0, early_end), early_end),
            2,
        )
    read = [d for d in DISCLOSURES if rng.random() >= miss / 3]
    disclosed = rng.random() >= miss
    prohibited = (
        [{"phrase": rng.choice(PROHIBITED), "timestamp": ts()}] if rng.random() < miss / 3 else []
    )
    sensitive = (
        [{"type": rng.choice(SENSITIVE), "timestamp": ts()}] if rng.random() < miss / 2 else []
    )
    greeting = rng.random() >= miss / 2
    effort = max(0, min(5, round((1 - skill) * 5 + rng.gauss(0, 1))))
    recs = [
        {
            "priority": rng.choice(("high", "medium", "low")),
            "category": rng.choice(CATEGORIES),
            "text": rng.choice(
                (
                    "Verify identity earlier.",
                    "Read all disclosures.",
                    "Acknowledge the customer's concern.",
                    "Summarise next steps.",
                )
            ),
        }
        for _ in range(rng.randrange(0, 4))
    ]
    return {
        "compliance": {
            "identity_verification": {
                "verified": verified,
                "timestamp": verified_at,
                # Verified, but only after two minutes of the call: flagged as late.
                "flagged": not verified or (verified_at or 0) > LATE_VERIFICATION_S,
            },
            "mandatory_disclosures": {
                "read": len(read) == len(DISCLOSURES),
                "matched_disclosures": read,
                "missing_disclosures": [d for d in DISCLOSURES if d not in read],
            },
            "purpose_declaration": {
                "disclosed": disclosed,
                "interaction_number": rng.randint(1, 3) if disclosed else None,
                "flagged": not disclosed,
            },
            "prohibited_phrases": {"used": bool(prohibited), "instances": prohibited},
            "sensitive_data": {"shared": bool(sensitive), "instances": sensitive},
        },
        "quality": {
            "greeting": {"present": greeting, "timestamp": ts() if greeting else None},
            "sentiment_analysis": {
                "overall": _weighted(rng, SENTIMENTS, (skill, 0.5, 1 - skill)),
                "customer_start": rng.choice(SENTIMENTS),
                "customer_end": _weighted(rng, SENTIMENTS, (skill, 0.4, 1 - skill)),
            },
            "empathy": {"count": rng.randrange(0, round(6 * skill) + 1)},
            "interruptions": {"count": rng.randrange(0, round(6 * (1 - skill)) + 2)},
            "call_structure": {
                "opening": greeting,
                "resolution": rng.random() >= 1.5 * miss,
                "closing": rng.random() >= miss,
            },
        },
        "coaching": {"customer_effort_score": effort, "recommendations": recs},
    }


def build(seed: int, key: int, meta: Meta) -> dict[str, Any]:
    """Return the analysis object for record `key`; the same inputs give the same object."""
    rng = random.Random(seed * 1_000_003 + key)
    # Draw everything in a fixed order whatever the status, so completing a record later
    # reveals the same transcript and results it would have had.
    duration_ms = int(min(3_600_000, max(2_000, rng.lognormvariate(12.4, 0.7))))
    duration = duration_ms / 1000
    fmt = FORMATS[bisect.bisect(_FORMAT_CUM, rng.random())]
    processing_ms = rng.randrange(4_000, 120_000)
    webhook = "https://hooks.example.com/callcov" if rng.random() < 0.3 else None
    error = rng.choice(ERRORS)
    transcript = _transcript(rng, duration, meta.hostile)
    results: dict[str, Any] = _results(rng, meta.skill, duration)
    completed = meta.status == "completed"
    if completed and meta.hostile == "quality_missing":
        del results["quality"]
    if completed and meta.hostile == "null_nested":
        results["coaching"] = None
        results["compliance"]["identity_verification"] = None
    finished = meta.status != "processing"
    completed_at = meta.completed_at
    if completed_at is None and finished:
        completed_at = meta.created + -(-processing_ms // 1000)
    record: dict[str, Any] = {
        "id": meta.id,
        "object": "analysis",
        "created": meta.created,
        "status": meta.status,
        "livemode": meta.livemode,
        "call": {
            "agent_id": meta.agent_id,
            "contact_id": meta.contact_id,
            "duration_ms": duration_ms,
            "duration_seconds": duration,
        },
        "audio": {
            "url": f"https://storage.callcov.example/audio/{meta.id}.{fmt}",
            "size_bytes": int(duration * _BYTES_PER_SECOND[fmt]),
            "format": fmt,
            "duration_seconds": duration,
        },
        "transcript": transcript if completed else None,
        "results": results if completed else None,
        "metadata": {
            "webhook_url": webhook,
            "completed_at": completed_at if finished else None,
            "processing_time_ms": processing_ms if finished else None,
            "error_message": error if meta.status == "failed" else None,
        },
    }
    if meta.hostile == "extra_fields":
        record["sentiment_score"] = round(rng.uniform(-1, 1), 3)
        record["call"]["queue"] = "billing-priority"
        record["experimental"] = {"foo": 1}
    return record
