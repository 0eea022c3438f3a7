"""The report shelf (报表中心): the nine sheets filed upward, as HTML tables and as workbooks (``reports.shelf``)."""
