"""The report's files: formula-safe CSV, the workbook and its summary sheet, the manifest."""
