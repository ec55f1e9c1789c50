# Tomz & Weeks with two treatments (alliance and regime) varying by group, in brms.
# Called by benchmarks/two_treatments_versus_brms.py:
#   Rscript tomz_weeks_two_treatments_brms.R data.csv out_prefix draws seed
suppressMessages(library(posterior))
file <- sub("--file=", "", grep("--file=", commandArgs(trailingOnly = FALSE), value = TRUE))
source(file.path(dirname(normalizePath(file)), "brms_timed_fit.R"))
arguments <- benchmark_arguments()
data <- arguments$data
out <- arguments$out
data$region <- factor(data$region)
data$group <- interaction(data$white, data$male, data$intl, data$hawk, drop = TRUE, sep = "_")

formula <- force ~ 1 + stakes + costs + region +
  (alliance + regime) * (white + male + intl + hawk) + (1 + alliance + regime | group)

timed <- timed_fit(formula, data, arguments$draws, arguments$seed)
fit <- timed$fit

# theta_{g,k} = b_k + lambda_k . z_g + u_{g,k}, draw by draw, for k in alliance, regime
d <- as_draws_df(fit)
groups <- unique(data[, c("group", "white", "male", "intl", "hawk")])
groups <- groups[order(groups$group), ]
effect_draws <- function(k) {
  sapply(seq_len(nrow(groups)), function(i) {
    g <- groups[i, ]
    d[[paste0("b_", k)]] + d[[paste0("b_", k, ":white")]] * g$white +
      d[[paste0("b_", k, ":male")]] * g$male + d[[paste0("b_", k, ":intl")]] * g$intl +
      d[[paste0("b_", k, ":hawk")]] * g$hawk + d[[paste0("r_group[", g$group, ",", k, "]")]]
  })
}
tables <- list()
diagnostics <- c()
for (k in c("alliance", "regime")) {
  theta <- effect_draws(k)
  theta_array <- array(theta, dim = c(nrow(theta) / 4, 4, ncol(theta)))
  diagnostics <- rbind(diagnostics, cbind(apply(theta_array, 3, posterior::rhat),
                                          apply(theta_array, 3, posterior::ess_bulk)))
  table <- groups
  table$treatment <- k
  table$median <- apply(theta, 2, median)
  table$mean <- apply(theta, 2, mean)
  table$sd <- apply(theta, 2, sd)
  tables[[k]] <- table
}
write.csv(do.call(rbind, tables), paste0(out, "_groups.csv"), row.names = FALSE)
key <- c("b_alliance", "b_regime", "sd_group__Intercept", "sd_group__alliance",
         "sd_group__regime", "sigma")
summary_key <- summarise_draws(subset_draws(as_draws_array(fit), variable = key),
                               "rhat", "ess_bulk")
write.csv(data.frame(
  compile_s = timed$compile_s, sampling_s = timed$sampling_s,
  min_ess_bulk = min(c(as.numeric(summary_key$ess_bulk), diagnostics[, 2])),
  max_rhat = max(c(as.numeric(summary_key$rhat), diagnostics[, 1]))
), paste0(out, "_timing.csv"), row.names = FALSE)
