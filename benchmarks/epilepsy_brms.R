# brms's epilepsy data (Thall & Vail 1990) as a negative-binomial varying-effects model, with
# HierarchicalHTE's default priors (the shape keeps brms's gamma(0.01, 0.01)). Called by
# benchmarks/families_versus_brms.py:  Rscript epilepsy_brms.R data.csv out_prefix draws seed
# The data hold count, Trt (0/1) and the tertile codes age3 and base3 (0, 1, 2); the groups
# are their combinations, and the tertile codes are the group-level predictors.
# Writes out_prefix_groups.csv (each group's effect on the log scale), out_prefix_timing.csv
# and out_prefix_parameters.csv (the shape's posterior median).
suppressMessages(library(posterior))
file <- sub("--file=", "", grep("--file=", commandArgs(trailingOnly = FALSE), value = TRUE))
source(file.path(dirname(normalizePath(file)), "brms_timed_fit.R"))
arguments <- benchmark_arguments()
data <- arguments$data
data$group <- interaction(data$age3, data$base3, drop = TRUE, sep = "_")

formula <- count ~ 1 + Trt * (age3 + base3) + (1 + Trt | group)
timed <- timed_fit(formula, data, arguments$draws, arguments$seed, negbinomial())
fit <- timed$fit

# theta_g = b_Trt + lambda . z_g + u_g on the log scale, draw by draw
d <- as_draws_df(fit)
groups <- unique(data[, c("group", "age3", "base3")])
groups <- groups[order(groups$group), ]
theta <- sapply(seq_len(nrow(groups)), function(i) {
  g <- groups[i, ]
  d$b_Trt + d[["b_Trt:age3"]] * g$age3 + d[["b_Trt:base3"]] * g$base3 +
    d[[paste0("r_group[", g$group, ",Trt]")]]
})
key <- c("b_Trt", "b_Trt:age3", "b_Trt:base3", "sd_group__Trt", "sd_group__Intercept",
         "shape")
write_fit_summary(fit, timed, key, theta, groups, "shape", arguments$out)
