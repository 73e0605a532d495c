"""Pipeline SQL: the ``CREATE … LIVE TABLE`` / ``STREAMING TABLE`` / ``MATERIALIZED VIEW`` headers Spark's parser
does not know, split off from the ``SELECT`` that Spark parses and runs.

Accepted (legacy DLT and current forms)::

    CREATE OR REFRESH [STREAMING] LIVE TABLE name [(CONSTRAINT c EXPECT (cond) [ON VIOLATION DROP ROW|FAIL UPDATE], …)]
        [COMMENT "…"] [TBLPROPERTIES (…)] [PARTITIONED BY (…)] AS query
    CREATE OR REFRESH STREAMING TABLE name …   /   CREATE OR REFRESH MATERIALIZED VIEW name … AS query
    CREATE [OR REFRESH] LIVE VIEW name … AS query   /   CREATE TEMPORARY [LIVE] VIEW name … AS query
    CREATE FLOW name AS INSERT INTO target BY NAME query

>>> from lakehouse_lab.pipelines.sql_parser import parse_sql
>>> [d.kind for d in parse_sql("CREATE OR REFRESH LIVE TABLE t COMMENT 'x' AS SELECT 1 AS a", "t.sql")]
['materialized_view']
"""
from __future__ import annotations

import re

from ..expectations import Expectation
from .model import Dataset, Flow, PipelineDefinitionError

_HEADER = re.compile(
    r"CREATE\s+(?:OR\s+(?P<refresh>REFRESH|REPLACE)\s+)?(?P<temp>TEMPORARY\s+)?(?P<stream>STREAMING\s+)?"
    r"(?P<live>LIVE\s+)?(?P<obj>TABLE|MATERIALIZED\s+VIEW|VIEW|FLOW)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?P<name>`[^`]+`|[A-Za-z_][\w.]*)", re.IGNORECASE)
_CONSTRAINT = re.compile(r"CONSTRAINT\s+(?P<name>`[^`]+`|\w+)\s+EXPECT\s*(?P<rest>\(.*)", re.IGNORECASE | re.DOTALL)
_VIOLATION = re.compile(r"ON\s+VIOLATION\s+(?P<action>DROP\s+ROW|FAIL\s+UPDATE)\s*$", re.IGNORECASE)
_INSERT = re.compile(r"INSERT\s+INTO\s+(?P<target>`[^`]+`|[\w.]+)\s+(?:BY\s+NAME\s+)?", re.IGNORECASE)
FORMS = ("CREATE OR REFRESH [STREAMING] LIVE TABLE, CREATE OR REFRESH STREAMING TABLE, "
         "CREATE OR REFRESH MATERIALIZED VIEW, CREATE [OR REFRESH] LIVE VIEW, CREATE TEMPORARY VIEW, CREATE FLOW")


def _blank_comments(text: str) -> str:
    """``text`` with comments replaced by spaces (newlines kept, so offsets and lines stay valid)."""
    out, i, n = list(text), 0, len(text)
    while i < n:
        c = text[i]
        if c in "'\"`":
            i = _skip_quoted(text, i)
            continue
        if text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out[i:j] = " " * (j - i)
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out[i:j] = [ch if ch == "\n" else " " for ch in text[i:j]]
            i = j
        else:
            i += 1
    return "".join(out)


def _skip_quoted(text: str, i: int) -> int:
    quote, j = text[i], i + 1
    while j < len(text):
        if text[j] == "\\" and quote != "`":
            j += 2
            continue
        if text[j] == quote:
            return j + 1
        j += 1
    return j


def split_statements(text: str) -> list[tuple[int, str]]:
    """``[(first line, statement)]`` split on top-level ``;`` (comments blanked, line numbers kept)."""
    clean = _blank_comments(text)
    parts, start, i = [], 0, 0
    while i <= len(clean):
        if i == len(clean) or clean[i] == ";":
            chunk = clean[start:i]
            if chunk.strip():
                lead = len(chunk) - len(chunk.lstrip())
                parts.append((clean.count("\n", 0, start + lead) + 1, chunk.strip()))
            start = i + 1
        elif clean[i] in "'\"`":
            i = _skip_quoted(clean, i)
            continue
        i += 1
    return parts


def _paren_group(text: str, i: int) -> int:
    """Index just after the parenthesis group opening at ``text[i] == '('``."""
    depth, j = 0, i
    while j < len(text):
        c = text[j]
        if c in "'\"`":
            j = _skip_quoted(text, j)
            continue
        depth += c == "("
        depth -= c == ")"
        j += 1
        if depth == 0:
            return j
    raise ValueError("unbalanced parentheses")


def _split_top(text: str, sep: str = ",") -> list[str]:
    items, depth, start, j = [], 0, 0, 0
    while j < len(text):
        c = text[j]
        if c in "'\"`":
            j = _skip_quoted(text, j)
            continue
        depth += c == "("
        depth -= c == ")"
        if c == sep and depth == 0:
            items.append(text[start:j])
            start = j + 1
        j += 1
    items.append(text[start:])
    return [s.strip() for s in items if s.strip()]


def _unquote(token: str) -> str:
    token = token.strip()
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"`":
        return token[1:-1]
    return token


class _Statement:
    """One ``CREATE …`` statement being read left to right."""

    def __init__(self, text: str, file: str, line: int):
        self.text, self.file, self.line, self.pos = text, file, line, 0

    def fail(self, what: str, at: int | None = None) -> PipelineDefinitionError:
        at = self.pos if at is None else at
        line = self.line + self.text.count("\n", 0, at)
        snippet = self.text.splitlines()[self.text.count("\n", 0, at)].strip()
        return PipelineDefinitionError(f"{self.file}:{line}: {what}\n    {snippet}")

    def skip_ws(self):
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def keyword(self, pattern: str) -> re.Match | None:
        self.skip_ws()
        m = re.compile(pattern, re.IGNORECASE).match(self.text, self.pos)
        if m:
            self.pos = m.end()
        return m

    def group(self, what: str) -> str:
        self.skip_ws()
        if not self.text.startswith("(", self.pos):
            raise self.fail(f"expected '(' after {what}")
        try:
            end = _paren_group(self.text, self.pos)
        except ValueError:
            raise self.fail(f"unbalanced parentheses in {what}") from None
        body, self.pos = self.text[self.pos + 1:end - 1], end
        return body

    def literal(self, what: str) -> str:
        self.skip_ws()
        if self.pos >= len(self.text) or self.text[self.pos] not in "'\"":
            raise self.fail(f"expected a quoted string after {what}")
        end = _skip_quoted(self.text, self.pos)
        value, self.pos = self.text[self.pos + 1:end - 1], end
        return value


def _kind(m: re.Match, st: _Statement) -> str:
    obj = re.sub(r"\s+", " ", m["obj"].upper())
    if obj == "FLOW":
        return "flow"
    if obj == "TABLE" and (m["stream"] or (m["live"] and not m["temp"])):
        return "streaming_table" if m["stream"] else "materialized_view"
    if obj == "MATERIALIZED VIEW":
        return "materialized_view"
    if obj == "VIEW" and (m["live"] or m["temp"]):
        return "view"
    raise st.fail(f"{m.group(0)!r} is not a pipeline definition; use one of: {FORMS}")


def _constraints(body: str, st: _Statement, at: int) -> list[Expectation]:
    found = []
    for item in _split_top(body):
        at = max(st.text.find(item, at), at)
        m = _CONSTRAINT.match(item)
        if not m:
            if item.upper().startswith("CONSTRAINT"):
                raise st.fail(f"cannot read constraint {item!r}: expected CONSTRAINT name EXPECT (condition) "
                              "[ON VIOLATION DROP ROW | FAIL UPDATE]", at)
            continue  # a column definition: the schema comes from the query
        rest = m["rest"]
        try:
            end = _paren_group(rest, 0)
        except ValueError:
            raise st.fail(f"unbalanced parentheses in constraint {m['name']}", at) from None
        tail = rest[end:].strip()
        action = "warn"
        if tail:
            v = _VIOLATION.match(tail)
            if not v:
                raise st.fail(f"constraint {m['name']}: expected ON VIOLATION DROP ROW | FAIL UPDATE, got {tail!r}", at)
            action = "drop" if v["action"].upper().startswith("DROP") else "fail"
        found.append(Expectation(_unquote(m["name"]), rest[1:end - 1].strip(), action))
    return found


def _properties(body: str) -> dict:
    props = {}
    for item in _split_top(body):
        key, _, value = item.partition("=")
        props[_unquote(key)] = _unquote(value)
    return props


def parse_statement(text: str, file: str, line: int) -> Dataset | Flow:
    """One statement → a :class:`Dataset` (or a :class:`Flow` for ``CREATE FLOW``)."""
    st = _Statement(text, file, line)
    m = _HEADER.match(text)
    if not m:
        raise st.fail(f"not a pipeline definition; use one of: {FORMS}", 0)
    st.pos = m.end()
    kind, name = _kind(m, st), _unquote(m["name"])
    expectations, comment, props, partitions = [], None, {}, None
    while True:
        if st.keyword(r"AS\b"):
            break
        if st.pos >= len(text):
            if kind == "streaming_table":
                return Dataset(name, kind, file=file, line=line, text=text)
            raise st.fail(f"{name}: missing AS <query>")
        if text.startswith("(", st.pos):
            at = st.pos
            expectations += _constraints(st.group("the column list"), st, at)
        elif st.keyword(r"COMMENT\b"):
            comment = st.literal("COMMENT")
        elif st.keyword(r"TBLPROPERTIES\b"):
            props.update(_properties(st.group("TBLPROPERTIES")))
        elif st.keyword(r"(PARTITIONED|CLUSTER)\s+BY\b"):
            partitions = [_unquote(c) for c in _split_top(st.group("PARTITIONED BY"))]
        elif st.keyword(r"USING\s+DELTA\b"):
            continue
        else:
            raise st.fail(f"{name}: unexpected text before AS <query>")
    query_at = st.pos
    st.skip_ws()
    query_line = line + text.count("\n", 0, st.pos)
    query = text[st.pos:].strip()
    if kind == "flow":
        ins = _INSERT.match(query)
        if not ins:
            raise st.fail(f"flow {name}: expected AS INSERT INTO <streaming table> BY NAME <query>", query_at)
        return Flow(name, _unquote(ins["target"]), sql=query[ins.end():], file=file, line=query_line)
    if not query:
        raise st.fail(f"{name}: empty query after AS", query_at)
    return Dataset(name, kind, sql=query, expectations=expectations, comment=comment, table_properties=props,
                   partition_cols=partitions, file=file, line=query_line, text=text)


def parse_sql(text: str, file: str = "<sql>") -> list[Dataset | Flow]:
    """Every definition in a SQL file (``;``-separated), with the line its query starts on."""
    return [parse_statement(stmt, file, line) for line, stmt in split_statements(text)]


_LIVE = re.compile(r"\bLIVE\s*\.\s*(`[^`]+`|\w+)", re.IGNORECASE)


def rewrite_live(sql: str, resolve) -> str:
    """Replace ``LIVE.x`` (outside quotes) by ``resolve(x)``."""
    out, i, last = [], 0, 0
    while i < len(sql):
        c = sql[i]
        if c in "'\"":
            i = _skip_quoted(sql, i)
            continue
        m = _LIVE.match(sql, i) if c in "lL" and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] in "_`.")) else None
        if m:
            out.append(sql[last:i])
            out.append(resolve(_unquote(m.group(1))))
            i = last = m.end()
            continue
        i += 1
    out.append(sql[last:])
    return "".join(out)
