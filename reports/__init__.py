"""HTML report templates and static assets, shipped inside the wheel as netdiag._reports."""
