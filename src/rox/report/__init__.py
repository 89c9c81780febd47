"""The self-contained HTML report of a workspace (``rox demo``, ``rox report``)."""
