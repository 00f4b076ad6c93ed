"""Page parts shared by the dashboard's pages (views too small or too general for one page)."""
