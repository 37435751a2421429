"""SQL repositories, one per aggregate, each over the unit of work's open connection."""
