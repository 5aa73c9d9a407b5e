"""Table definitions, one :class:`~sqlalchemy.MetaData` per database (the migrations create exactly these)."""
