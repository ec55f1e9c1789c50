# The Tomz & Weeks reanalysis in brms, with the note's specification and priors.
# Called by benchmarks/versus_brms_bambi.py:  Rscript tomz_weeks_brms.R data.csv out_prefix draws
# and by benchmarks/families_versus_brms.py with a seed and a family (Student-t):
#   Rscript tomz_weeks_brms.R data.csv out_prefix draws seed student
# Writes out_prefix_groups.csv (each group's effect), out_prefix_timing.csv and
# out_prefix_parameters.csv (posterior medians of the family's parameters, e.g. sigma, nu).
suppressMessages(library(posterior))
file <- sub("--file=", "", grep("--file=", commandArgs(trailingOnly = FALSE), value = TRUE))
source(file.path(dirname(normalizePath(file)), "brms_timed_fit.R"))
arguments <- benchmark_arguments()
data <- arguments$data
out <- arguments$out
draws <- arguments$draws
data$region <- factor(data$region)
data$group <- interaction(data$white, data$male, data$intl, data$hawk, drop = TRUE, sep = "_")

formula <- force ~ 1 + regime + stakes + costs + region +
  alliance * (white + male + intl + hawk) + (1 + alliance | group)

timed <- timed_fit(formula, data, draws, arguments$seed, arguments$family)
fit <- timed$fit

# theta_g = b_alliance + lambda . z_g + u_g, draw by draw
d <- as_draws_df(fit)
groups <- unique(data[, c("group", "white", "male", "intl", "hawk")])
groups <- groups[order(groups$group), ]
theta <- sapply(seq_len(nrow(groups)), function(i) {
  g <- groups[i, ]
  d$b_alliance + d[["b_alliance:white"]] * g$white + d[["b_alliance:male"]] * g$male +
    d[["b_alliance:intl"]] * g$intl + d[["b_alliance:hawk"]] * g$hawk +
    d[[paste0("r_group[", g$group, ",alliance]")]]
})
family_parameters <- intersect(c("sigma", "nu", "shape"), variables(d))
key <- c("b_alliance", "b_alliance:white", "b_alliance:male", "b_alliance:intl",
         "b_alliance:hawk", "sd_group__alliance", "sd_group__Intercept", family_parameters)
write_fit_summary(fit, timed, key, theta, groups, family_parameters, out)
