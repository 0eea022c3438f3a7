"""Reports: one module per report builds its rows; xlsx.py writes every workbook the same way."""
