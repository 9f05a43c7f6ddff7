## Key numbers of vignettes/batch-effects.Rmd against lmerTest, pbkrtest, aov()
## and lme4.

machines_data <- function() {
  M <- nlme::Machines
  data.frame(score = M$score, Machine = factor(as.character(M$Machine)), Worker = factor(as.character(M$Worker)))
}

test_that("batch-effects vignette: the Machine test has the Worker:Machine stratum's df", {
  skip_if_not_installed("lmerTest")
  skip_if_not_installed("pbkrtest")
  d <- machines_data()
  fit <- lmm(score ~ Machine + (1 | Worker) + (1 | Worker:Machine), d)
  fm <- lmerTest::lmer(score ~ Machine + (1 | Worker) + (1 | Worker:Machine), d)
  ## classical split plot: Machine against the Worker:Machine stratum, F(2, 10)
  a <- summary(stats::aov(score ~ Machine + Error(Worker / Machine), d))[["Error: Worker:Machine"]][[1]]
  F_ref <- a["Machine", "F value"]
  expect_equal(a["Residuals", "Df"], 10)
  s <- anova(fit)
  expect_equal(s$DenDF, 10, tolerance = 1e-4)
  expect_equal(s$`F value`, F_ref, tolerance = 1e-5)
  ## lmerTest's Satterthwaite (numerical derivatives: ~1e-4)
  s_ref <- anova(fm)
  expect_equal(s$DenDF, s_ref$DenDF, tolerance = 1e-4)
  expect_equal(s$`F value`, s_ref$`F value`, tolerance = 1e-5)
  ## pbkrtest's Kenward-Roger
  kr <- anova(fit, ddf = "Kenward-Roger")
  fm0 <- lme4::lmer(score ~ 1 + (1 | Worker) + (1 | Worker:Machine), d)
  kr_ref <- pbkrtest::KRmodcomp(fm, fm0)$test["Ftest", ]
  expect_equal(kr$DenDF, kr_ref$ddf, tolerance = 1e-6)
  expect_equal(kr$`F value`, kr_ref$stat, tolerance = 1e-5)   # optima differ by ~1e-6
  ## per-coefficient t: df 10 and the SE of the stratum, sqrt(2 MS(W:M) / 18)
  tab <- fixef_table(fit)
  expect_equal(unname(tab["MachineB", "df"]), 10, tolerance = 1e-4)
  expect_equal(unname(tab["MachineB", "Std. Error"]), sqrt(2 * a["Residuals", "Mean Sq"] / 18), tolerance = 1e-5)
})

test_that("batch-effects vignette: without the interaction the df are 46 and the LRT is lme4's", {
  skip_if_not_installed("lme4")
  d <- machines_data()
  fit <- lmm(score ~ Machine + (1 | Worker) + (1 | Worker:Machine), d)
  fit0 <- lmm(score ~ Machine + (1 | Worker), d)
  ## balanced: the residual stratum's df after Worker and Machine, 54 - 6 - 2 = 46
  expect_equal(anova(fit0)$DenDF, 46, tolerance = 1e-6)
  tab0 <- fixef_table(fit0)
  m <- stats::lm(score ~ Machine + Worker, d)
  expect_equal(unname(tab0["MachineB", "Std. Error"]), summary(m)$coefficients["MachineB", "Std. Error"],
               tolerance = 1e-5)
  ## the text: "half as large"
  expect_equal(round(tab0["MachineB", "Std. Error"] / fixef_table(fit)["MachineB", "Std. Error"], 1), 0.5)
  fm <- lme4::lmer(score ~ Machine + (1 | Worker) + (1 | Worker:Machine), d)
  fm0 <- lme4::lmer(score ~ Machine + (1 | Worker), d)
  lrt <- suppressMessages(anova(fit0, fit))
  lrt_ref <- suppressMessages(anova(fm0, fm))
  expect_equal(lrt$Chisq[2], lrt_ref$Chisq[2], tolerance = 1e-5)
})

test_that("batch-effects vignette: shares as lme4's and the plots are drawn", {
  skip_if_not_installed("lme4")
  d <- machines_data()
  fit <- lmm(score ~ Machine + (1 | Worker) + (1 | Worker:Machine), d)
  fm <- lme4::lmer(score ~ Machine + (1 | Worker) + (1 | Worker:Machine), d)
  v <- as.data.frame(lme4::VarCorr(fm))$vcov
  vc <- varcomp(fit, nsim = 200, seed = 1)
  expect_identical(vc$grp, c("Worker:Machine", "Worker", "Residual"))
  expect_equal(vc$share, v / sum(v), tolerance = 1e-4)
  expect_equal(round(100 * v[3] / sum(v)), 2)                 # the text: 2% of the total
  f1 <- tempfile("vignette-batch-interaction-", fileext = ".png")
  grDevices::png(f1, width = 700, height = 450)
  with(d, stats::interaction.plot(Machine, Worker, score, fun = mean, type = "b", pch = 1:6,
                                  lty = 1, col = 1:6, ylab = "mean score", trace.label = "Worker"))
  grDevices::dev.off()
  f2 <- tempfile("vignette-batch-varcomp-", fileext = ".png")
  grDevices::png(f2, width = 700, height = 400)
  plot(vc)
  grDevices::dev.off()
  expect_true(all(file.exists(c(f1, f2))) && all(file.size(c(f1, f2)) > 0))
})
