"""Loader for the Tomz & Weeks (2021) alliance survey experiment shipped with the package."""

from importlib import resources

import pandas as pd

REGIONS = ["Africa", "Asia", "Eastern Europe", "South America"]


def load_tomz_weeks() -> pd.DataFrame:
    """Load the Tomz & Weeks (2021) survey experiment on alliances and support for war.

    A 2x2x2x2x4 factorial vignette experiment fielded by YouGov in April 2017
    (N = 1,200). Respondents read about a country under attack; the vignette
    varied whether the country was a US ally (the treatment), a democracy, how
    high the stakes and costs were, and its region. The outcome is whether the
    respondent favours using force. The data are read from a file inside the
    package: no network access and nothing outside the package is needed.

    Returns
    -------
    data : pandas.DataFrame of shape (1200, 15)
        One row per respondent, with columns

        - ``force``: 1 if the respondent favours intervention (``pref >= 4``), else 0.
        - ``pref``: support for intervention on a 1-5 scale (1 oppose strongly,
          5 favour strongly).
        - ``alliance``: 1 if the country is a US ally (the treatment), else 0.
        - ``regime``: 1 if the country is a democracy.
        - ``stakes``: 1 if the stakes are high.
        - ``costs``: 1 if the costs of intervening are low.
        - ``region``: categorical with the four region names
          (Africa, Asia, Eastern Europe, South America).
        - ``white``: 1 if the respondent is white (``race == 1``).
        - ``male``: 1 if the respondent is male (``gender == 1``).
        - ``intl``: internationalism, 1-5 (higher is more internationalist).
        - ``hawk``: hawkishness, 1-5 (``6 - hawk`` of the raw file, so higher is
          more hawkish).
        - ``pid7``: party identification, 1-7 (8 = not sure).
        - ``age``: ``(2016 - birthyr) / 10``.
        - ``ed4``: education in four categories.
        - ``weight``: the survey weight.

    Notes
    -----
    The coding follows Alley's reanalysis (2024): the raw Stata file from the
    authors' replication archive with the treatments recoded to 0/1, hawkishness
    reversed and the binary outcome derived from the 5-point preference. Every
    one of the 2 x 2 x 5 x 5 = 100 combinations of ``white``, ``male``, ``intl``
    and ``hawk`` occurs, with 1 to 57 respondents each.

    References
    ----------
    Tomz, Michael, and Jessica L. P. Weeks. 2021. "Military Alliances and Public
    Support for War." *International Studies Quarterly* 65(3): 811-824.

    Alley, Joshua. 2024. "Using Hierarchical Models to Estimate Heterogeneous
    Effects." Manuscript, University College Dublin.

    Examples
    --------
    >>> from sklearn_hier.datasets import load_tomz_weeks
    >>> df = load_tomz_weeks()
    >>> df.shape
    (1200, 15)
    >>> float(round(df["force"].mean(), 3))
    0.631
    """
    path = resources.files("sklearn_hier.datasets").joinpath("data/tomz_weeks_2021.csv")
    with resources.as_file(path) as csv:
        raw = pd.read_csv(csv)
    data = raw.drop(columns=["region", "het_group"]).rename(columns={"region_txt": "region"})
    data["region"] = pd.Categorical(data["region"].astype(str), categories=REGIONS)
    columns = [
        "force", "pref", "alliance", "regime", "stakes", "costs", "region",
        "white", "male", "intl", "hawk", "pid7", "age", "ed4", "weight",
    ]  # fmt: skip
    return data[columns]
