"""The operator's billing and field-service system (CSG), behind a port."""
