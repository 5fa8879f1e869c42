"""Moving data in and out: `footfall import`, `footfall export`'s files, `footfall db copy`."""
