"""The words a docops suite draws its documents and rules from, one vocabulary per house.

A :class:`Vocab` is everything a rule can name or a rule's answer can contain: the key
spellings of each front matter role, legacy keys, the keys and values of ``equals`` rules,
the date and list keys, people, tag and category words, the days dates fall on, and (for
the rules whose value comes from the body) the marker lines and changelog headings.

:data:`CLASSIC` is the one vocabulary of the template suite (both splits share it).
The paraphrased suite gives each split its own house: :data:`PARA_TRAIN` and
:data:`PARA_HOLDOUT` share no key a rule names, no value, no list item, no person, no
subject and no day (:func:`shared_words` lists what two vocabularies share), so no holdout
answer is an answer some train task already had.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

Scalar = str | int | bool

#: the roles a front matter key can play; a vocabulary spells each of them
ROLES = ("title", "author", "date", "updated", "tags", "categories", "description", "slug",
         "draft", "status", "category")

SUBJECTS = (
    "the build cache", "release branches", "on-call rotations", "database migrations",
    "feature flags", "API versioning", "log retention", "the style guide", "code review",
    "incident reviews", "onboarding", "dependency updates", "test fixtures", "load testing",
    "error budgets", "the search index", "background jobs", "rate limiting", "access tokens",
    "nightly backups", "the design system", "accessibility checks", "the changelog",
    "cost reports", "queue workers", "schema changes", "cache invalidation", "mobile releases",
    "data retention", "translations", "the staging cluster", "service ownership",
    "alert routing", "secrets rotation", "the billing export", "flaky tests",
    "container images", "DNS changes", "the public API", "the CLI", "pagination",
    "webhooks", "audit logs", "single sign-on", "the docs site", "dark mode",
    "the payments service", "capacity planning", "trace sampling", "config files",
)
PEOPLE = ("Ada Byron", "Grace Hopper", "Linus Pauling", "Mae Jemison", "Alan Kay",
          "Barbara Liskov", "Ken Iverson", "Radia Perlman", "ops-team", "docs-team",
          "J. Doe", "Margaret Hamilton", "Edsger D.", "Frances Allen")
TAG_WORDS = ("ops", "release", "howto", "python", "security", "api", "frontend", "testing",
             "infra", "data", "onboarding", "reference", "policy", "mobile", "performance")
CATEGORY_WORDS = ("guides", "reference", "news", "howto", "internal", "runbooks")
STATUS_WORDS = ("draft", "review", "published", "Published", "wip")


@dataclass(frozen=True)
class Vocab:
    """One house's words: what its documents hold and what its rules may name."""

    name: str
    subjects: tuple[str, ...]
    people: tuple[str, ...]
    tag_words: tuple[str, ...]
    category_words: tuple[str, ...]
    status_words: tuple[str, ...]
    #: each role's spellings, lowercase first (a capitalised one is for ``lowercase_keys``)
    key_spellings: Mapping[str, tuple[str, ...]]
    #: legacy names and the names the house wants instead
    renames: Mapping[str, str]
    #: keys an ``absent`` rule removes, with the values documents give them
    legacy_keys: Mapping[str, tuple[Scalar, ...]]
    equals_values: Mapping[str, tuple[str, ...]]
    date_keys: tuple[str, ...]
    list_keys: tuple[str, ...]
    #: the flag an ``absent`` rule may drop (and an ``equals`` rule set only when present)
    flag_key: str
    first_day: dt.date
    days: int
    #: ``body_line``: the markers a body line may start with, and the key the rule sets
    markers: tuple[str, ...] = ()
    person_key: str = ""
    #: ``changelog_date``: the headings a changelog may have, and the key the rule sets
    sections: tuple[str, ...] = ()
    changelog_key: str = ""
    #: what changelog entries say (not a rule's value: shared by every house)
    changes: tuple[str, ...] = field(default=(), repr=False)

    def rule_keys(self) -> set[str]:
        """Every key a rule of this house may name or an answer may touch, but ``title``:
        every house has it, and ``title_heading`` (which names no key) sets it to the
        heading, a value no other house's documents have."""
        keys = {*self.renames, *self.renames.values(), *self.legacy_keys, *self.equals_values,
                *self.date_keys, *self.list_keys, self.flag_key}
        keys |= {k for spellings in self.key_spellings.values() for k in spellings}
        keys |= {k for k in (self.person_key, self.changelog_key) if k}
        return keys - {"title"}

    def rule_values(self) -> set[str]:
        """Every value a rule may name, and every value an answer may copy."""
        values = {v for vs in self.equals_values.values() for v in vs}
        return values | {*self.markers, *self.sections, *self.people, *self.tag_words,
                         *self.category_words, *self.status_words}

    def day(self, offset: int) -> dt.date:
        return self.first_day + dt.timedelta(days=offset % self.days)


CLASSIC = Vocab(
    name="classic",
    subjects=SUBJECTS, people=PEOPLE, tag_words=TAG_WORDS, category_words=CATEGORY_WORDS,
    status_words=STATUS_WORDS,
    key_spellings={
        "title": ("title", "Title"),
        "author": ("author", "Author", "writer", "by"),
        "date": ("date", "Date", "pubdate", "published"),
        "updated": ("updated", "Updated", "last_modified"),
        "tags": ("tags", "Tags", "keywords"),
        "categories": ("categories", "Categories"),
        "description": ("description", "Description", "summary", "excerpt"),
        "slug": ("slug", "permalink"),
        "draft": ("draft", "Draft"),
        "status": ("status", "Status"),
        "category": ("category", "Category"),
    },
    renames={"writer": "author", "by": "author", "pubdate": "date", "published": "date",
             "last_modified": "updated", "keywords": "tags", "summary": "description",
             "excerpt": "description", "permalink": "slug"},
    legacy_keys={
        "layout": ("post", "page", "doc"), "wp_id": (1042, 77, 3190),
        "old_url": ("/blog/2019/old-post", "/wiki/Page_1", "/docs/v1/guide"),
        "comments": (True, False), "legacy_id": ("A-113", "X7", "doc-0042"),
        "disqus_id": ("thread-12", "t-9981"), "migrated_from": ("confluence", "wiki")},
    equals_values={"status": ("published", "review", "final", "archived"),
                   "lang": ("en", "de", "fr", "es", "en-GB"),
                   "visibility": ("public", "internal"),
                   "owner": ("docs-team", "platform", "sre", "payments"),
                   "category": CATEGORY_WORDS, "license": ("CC-BY-4.0", "MIT", "internal-only"),
                   "draft": ("false",)},
    date_keys=("date", "updated"), list_keys=("tags", "categories"), flag_key="draft",
    first_day=dt.date(2019, 1, 1), days=2501,
)

_CHANGES = ("Fixed broken links", "Added the rollout steps", "Reworded the introduction",
            "Updated the examples", "Removed the old FAQ", "Clarified who to ask",
            "Split the long section", "New screenshots", "Corrected a command")

#: the paraphrased suite's train house: the classic keys, half of the classic content
PARA_TRAIN = Vocab(
    name="paraphrase-train",
    subjects=SUBJECTS[::2],
    people=("Ada Byron", "Grace Hopper", "Linus Pauling", "Mae Jemison", "Alan Kay",
            "Barbara Liskov", "Ken Iverson"),
    tag_words=("ops", "release", "howto", "python", "security", "api", "frontend",
               "testing"),
    category_words=("guides", "reference", "news", "runbooks"),
    status_words=STATUS_WORDS,
    key_spellings=CLASSIC.key_spellings, renames=CLASSIC.renames,
    legacy_keys={
        "layout": ("post", "page", "doc"), "wp_id": (1042, 77, 3190),
        "old_url": ("/blog/2019/old-post", "/wiki/Page_1"),
        "comments": (True, False), "legacy_id": ("A-113", "X7")},
    equals_values={"status": ("published", "final", "archived"),
                   "lang": ("en", "de", "fr"),
                   "visibility": ("public", "internal"),
                   "owner": ("docs-team", "platform", "sre"),
                   "category": ("guides", "reference", "news", "runbooks"),
                   "license": ("CC-BY-4.0", "MIT"),
                   "draft": ("false",)},
    date_keys=("date", "updated"), list_keys=("tags", "categories"), flag_key="draft",
    first_day=dt.date(2015, 1, 1), days=1800,
    markers=("Maintained by", "Owned by"), person_key="author",
    sections=("Changelog", "History"), changelog_key="updated", changes=_CHANGES,
)

#: the paraphrased suite's holdout house: other keys, other values, other people and days
PARA_HOLDOUT = Vocab(
    name="paraphrase-holdout",
    subjects=SUBJECTS[1::2],
    people=("Hedy Lamarr", "Katherine Johnson", "Dennis Ritchie", "John Backus",
            "Annie Easley", "Claude Shannon", "Evelyn Boyd"),
    tag_words=("kubernetes", "design", "metrics", "billing", "support", "privacy",
               "networking", "storage"),
    category_words=("tutorials", "explanations", "playbooks", "decisions"),
    status_words=("proposed", "approved", "Approved", "current", "retired"),
    key_spellings={
        "title": ("title",),
        "author": ("creator", "Creator", "made_by", "written_by"),
        "date": ("created", "Created", "created_on", "first_published"),
        "updated": ("revised", "Revised", "revised_on"),
        "tags": ("labels", "Labels", "label_list"),
        "categories": ("topics", "Topics"),
        "description": ("abstract", "Abstract", "blurb", "teaser"),
        "slug": ("handle", "url_name"),
        "draft": ("hidden", "Hidden"),
        "status": ("stage", "Stage"),
        "category": ("section", "Section"),
    },
    renames={"made_by": "creator", "written_by": "creator", "created_on": "created",
             "first_published": "created", "revised_on": "revised", "label_list": "labels",
             "blurb": "abstract", "teaser": "abstract", "url_name": "handle"},
    legacy_keys={
        "template": ("wide", "narrow", "plain"), "node_id": (5521, 308, 12),
        "redirect_from": ("/kb/article-9", "/help/start"),
        "allow_comments": (True, False), "import_ref": ("KB-77", "imp-310"),
        "sharepoint_id": ("sp-41", "sp-1009"), "source_system": ("notion", "gitbook")},
    equals_values={"stage": ("approved", "current", "retired"),
                   "locale": ("nl", "pt-BR", "ja", "it"),
                   "access": ("open", "restricted"),
                   "team": ("identity", "growth", "storage-team"),
                   "section": ("tutorials", "explanations", "playbooks", "decisions"),
                   "copyright": ("Apache-2.0", "CC0-1.0", "BSD-3-Clause")},
    date_keys=("created", "revised"), list_keys=("labels", "topics"), flag_key="hidden",
    first_day=dt.date(2021, 1, 1), days=1800,
    markers=("Curated by", "Looked after by"), person_key="creator",
    sections=("Revision log", "Version history"), changelog_key="revised", changes=_CHANGES,
)

PARAPHRASE_HOUSES = {"train": PARA_TRAIN, "holdout": PARA_HOLDOUT}


def shared_words(a: Vocab, b: Vocab) -> dict[str, set[str]]:
    """What two vocabularies share, by kind (empty sets: disjoint houses)."""
    days_a = {a.day(n) for n in range(a.days)}
    days_b = {b.day(n) for n in range(b.days)}
    return {
        "keys": a.rule_keys() & b.rule_keys(),
        "values": a.rule_values() & b.rule_values(),
        "subjects": set(a.subjects) & set(b.subjects),
        "days": {d.isoformat() for d in days_a & days_b},
    }
