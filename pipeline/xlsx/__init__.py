"""Everything about .xlsx files: the container below any library (`container`: pre-check, inflate, CRC, re-pack),
reading a return (`reader`, `values`), the school workbook's layout and signed identity (`school_layout`),
writing templates (`templates`), and the summaries' safe workbook and layout (`book`, `summary_layout`)."""
