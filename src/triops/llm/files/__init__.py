"""Files of a project, as OpenAI's Files API knows them: uploaded for a purpose, listed,
read back, deleted. Fine-tuning jobs read their training files from here and write
their results here; vector stores read their documents from here.

The bytes are kept by the artifact store; the database holds one row per file.
"""

from triops.llm.files._files import (
    MAX_LIST,
    OUTPUT_PURPOSES,
    UPLOAD_PURPOSES,
    FileInfo,
    delete,
    get,
    listing,
    open_content,
    read_content,
    store,
    store_bytes,
)
from triops.llm.files._formats import check_chat_jsonl, check_example

__all__ = [
    "MAX_LIST", "OUTPUT_PURPOSES", "UPLOAD_PURPOSES", "FileInfo", "check_chat_jsonl",
    "check_example", "delete", "get", "listing", "open_content", "read_content", "store",
    "store_bytes",
]
