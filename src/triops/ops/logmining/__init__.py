"""Online log template mining.

>>> from triops.ops.logmining import LogFormat, TemplateMiner
>>> fmt = LogFormat.parse("<Date> <Time> <Level> <Component>: <Content>")
>>> miner = TemplateMiner()
>>> fields = fmt.split("081109 203615 INFO dfs.DataNode: Receiving block blk_-16 src: /10.250.19.102:54106")
>>> miner.add(fields["Content"]).template
'Receiving block blk_<*> src: /<*>:<*>'
"""

from triops.ops.logmining._format import CONTENT_FIELD, LogFormat
from triops.ops.logmining._masking import WILDCARD, mask_timestamps, mask_token, tokenize
from triops.ops.logmining._miner import Match, MinerConfig, Template, TemplateMiner
from triops.ops.logmining._rate import RateJump, RateTracker
from triops.ops.logmining._structured import (
    ParsedLog,
    ParseStats,
    event_id,
    parse_file,
    parse_lines,
    read_lines,
    write_structured,
)

__all__ = [
    "CONTENT_FIELD",
    "WILDCARD",
    "LogFormat",
    "Match",
    "MinerConfig",
    "ParseStats",
    "ParsedLog",
    "RateJump",
    "RateTracker",
    "Template",
    "TemplateMiner",
    "event_id",
    "mask_timestamps",
    "mask_token",
    "parse_file",
    "parse_lines",
    "read_lines",
    "tokenize",
    "write_structured",
]
