## sim-trial.R -- the simulated longitudinal trial (2 arms, visits 0..6, a
## random intercept and slope per subject, dropout) shared by
## make-ref-lme4.R and make-ref-inference.R. Sourced by both.
simulate_trial <- function(seed = 202, nsub = 60) {
  set.seed(seed)
  trial <- expand.grid(visit = 0:6, id = sprintf("s%02d", 1:nsub))
  trial$id <- factor(trial$id)
  arm_of <- rep(c("placebo", "active"), length.out = nsub)
  trial$arm <- factor(arm_of[trial$id], levels = c("placebo", "active"))
  b0 <- rnorm(nsub, 0, 4); b1 <- rnorm(nsub, 0, 1.2)
  trial$y <- 30 + b0[trial$id] + (-0.5 - 1.0 * (trial$arm == "active") + b1[trial$id]) * trial$visit +
    rnorm(nrow(trial), 0, 2.5)
  last_visit <- sample(c(2:6, rep(6, 5)), nsub, replace = TRUE)   # dropout time per subject
  trial <- trial[trial$visit <= last_visit[trial$id], ]
  rownames(trial) <- NULL
  trial
}
