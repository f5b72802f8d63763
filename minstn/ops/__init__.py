"""`Function` subclasses, grouped by family; `minstn.functional` re-exports them."""
