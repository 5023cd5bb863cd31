"""Personas as versioned data in the database, with each version parsed once.

`personas/*.yaml` seed the database at start-up (ids not there yet become version 1). After that the
database is the truth: every educator save is a new version; new conversations use the current version
(looked up per conversation start, so a save takes effect without a restart); a conversation keeps the
version it started with. Versions never change, so the cache of parsed Persona objects is keyed by
(id, version) and never goes stale.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

import yaml
from sqlalchemy.orm import Session

from server.db import persona_repo
from server.db.models import User
from server.personas import Persona

log = logging.getLogger("kidchat.personas")


@dataclass(frozen=True)
class PersonaRef:
    version: int
    persona: Persona


class PersonaStore:
    def __init__(self) -> None:
        self._parsed: dict[tuple[str, int], Persona] = {}
        self._lock = threading.Lock()

    def _parse(self, persona_id: str, version: int, data: dict) -> Persona:
        key = (persona_id, version)
        with self._lock:
            cached = self._parsed.get(key)
        if cached is None:
            cached = Persona.model_validate(data)
            with self._lock:
                self._parsed[key] = cached
        return cached

    def get(self, session: Session, persona_id: str, version: int | None) -> Persona | None:
        """A persona at a version (None: the current one, for conversations older than versions)."""
        if version is None:
            ref = self.current(session, persona_id)
            return ref.persona if ref else None
        with self._lock:
            cached = self._parsed.get((persona_id, version))
        if cached is not None:
            return cached
        row = persona_repo.get_version(session, persona_id, version)
        return self._parse(persona_id, version, row.data) if row else None

    def current(self, session: Session, persona_id: str) -> PersonaRef | None:
        record = persona_repo.get_record(session, persona_id)
        if record is None:
            return None
        persona = self.get(session, persona_id, record.current_version)
        return PersonaRef(record.current_version, persona) if persona else None

    def all_current(self, session: Session) -> list[PersonaRef]:
        refs = []
        for record in persona_repo.list_records(session):
            persona = self.get(session, record.id, record.current_version)
            if persona is not None:
                refs.append(PersonaRef(record.current_version, persona))
        return refs

    def save(self, session: Session, persona: Persona, *, author: User | None, note: str, now: datetime) -> int:
        """A new version (the persona was validated by constructing it); returns its number."""
        data = persona.model_dump(mode="json")
        row = persona_repo.add_version(
            session, persona.id, data, author=author, label=persona_repo.author_label(author, "kidchat"), note=note, now=now
        )
        return row.version

    def seed(self, session: Session, personas: dict[str, Persona], now: datetime) -> list[str]:
        """Put YAML personas whose ids are not in the database yet in as version 1."""
        added = []
        for persona_id, persona in personas.items():
            if persona_repo.get_record(session, persona_id) is None:
                persona_repo.add_version(
                    session, persona_id, persona.model_dump(mode="json"), author=None,
                    label=f"personas/{persona_id}.yaml", note="seeded from YAML", now=now,
                )
                added.append(persona_id)
        if added:
            log.info("seeded personas from YAML: %s", ", ".join(added))
        return added


def to_yaml(persona: Persona) -> str:
    """The persona as a personas/*.yaml file (loads back with server.personas.parse_persona)."""
    data = persona.model_dump(mode="json")
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
