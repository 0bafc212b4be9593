"""Sluice: a Milvus-compatible vector database.

    import sluice
    db = sluice.connect("./data")                 # embedded, in this process
    db = sluice.connect("http://127.0.0.1:19530")  # a Sluice (or Milvus) server
"""

__version__ = "0.1.0"
