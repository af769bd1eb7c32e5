"""The ``nomasplit`` command line: a thin shell over the library API."""
