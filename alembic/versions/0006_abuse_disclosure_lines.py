"""persona versions gain the now-required abuse_disclosure redirect line

The safety stage added the category abuse_disclosure (a child saying someone hurts them), and every
persona must now have a caring line for it in each language it speaks. Versions saved before that would no
longer validate, so conversations started on them could not resume: this fills in a generic caring line
(believe the child, not their fault, a teacher or trusted grown-up, a helpline) where a version has none.
Every other field of every version is left exactly as it was.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINES = {
    "ko": "말해 줘서 정말 고마워. 그건 절대 네 잘못이 아니야. 선생님이나 믿을 수 있는 어른에게 꼭 이야기하자. "
    "1391이나 112에 전화해도 도와줄 거야.",
    "en": "Thank you for telling me. It is not your fault. Please tell a teacher or another grown-up you trust. "
    "You can also call Childhelp at 1-800-422-4453, or 911 if you are in danger.",
}

versions = sa.table(
    "persona_versions",
    sa.column("persona_id", sa.String),
    sa.column("version", sa.Integer),
    sa.column("data", sa.JSON),
)


def upgrade() -> None:
    conn = op.get_bind()
    for persona_id, version, data in conn.execute(sa.select(versions.c.persona_id, versions.c.version, versions.c.data)).all():
        redirects = (data or {}).get("redirects") or {}
        changed = False
        for lang, lines in redirects.items():
            if isinstance(lines, dict) and not lines.get("abuse_disclosure") and lang in LINES:
                lines["abuse_disclosure"] = LINES[lang]
                changed = True
        if changed:
            conn.execute(
                versions.update()
                .where(versions.c.persona_id == persona_id, versions.c.version == version)
                .values(data=data)
            )


def downgrade() -> None:
    """The filled-in lines stay: without them the versions would not validate under this code either."""
