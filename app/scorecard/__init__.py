"""The township scorecard: indicators per township and year, the suggested change to next year's places and
the bureau's decision (003 notice: 名额倾斜 / 消减名额)."""
