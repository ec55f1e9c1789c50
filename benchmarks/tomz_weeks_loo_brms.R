# PSIS-LOO of the Tomz & Weeks models in brms, for benchmarks/loo_versus_brms.py:
#   Rscript tomz_weeks_loo_brms.R data.csv out_prefix draws seed structure
# structure "nested": the note's model, (1 + alliance | group) with one group per
# combination of the four modifiers; "additive": footnote 8's per-modifier terms,
# (1 + alliance | white) + (1 + alliance | male) + (1 + alliance | intl) + (1 + alliance | hawk).
# Writes out_prefix_loo.csv: elpd_loo, se_elpd_loo, p_loo, the largest Pareto k and the
# fit's compile and sampling seconds.
suppressMessages(library(loo))
file <- sub("--file=", "", grep("--file=", commandArgs(trailingOnly = FALSE), value = TRUE))
source(file.path(dirname(normalizePath(file)), "brms_timed_fit.R"))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
out <- args[2]
draws <- as.integer(args[3])
seed <- as.integer(args[4])
structure <- args[5]
data$region <- factor(data$region)
data$group <- interaction(data$white, data$male, data$intl, data$hawk, drop = TRUE, sep = "_")

fixed <- "force ~ 1 + regime + stakes + costs + region + alliance * (white + male + intl + hawk)"
varying <- if (structure == "nested") {
  "(1 + alliance | group)"
} else {
  "(1 + alliance | white) + (1 + alliance | male) + (1 + alliance | intl) + (1 + alliance | hawk)"
}
formula <- as.formula(paste(fixed, "+", varying))
timed <- timed_fit(formula, data, draws, seed)
started <- Sys.time()
result <- loo(timed$fit)
loo_s <- as.numeric(difftime(Sys.time(), started, units = "secs"))
estimates <- result$estimates
write.csv(data.frame(
  elpd_loo = estimates["elpd_loo", "Estimate"], se = estimates["elpd_loo", "SE"],
  p_loo = estimates["p_loo", "Estimate"], max_pareto_k = max(result$diagnostics$pareto_k),
  compile_s = timed$compile_s, sampling_s = timed$sampling_s, loo_s = loo_s
), paste0(out, "_loo.csv"), row.names = FALSE)
