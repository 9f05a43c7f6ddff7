# The EMA's reference data sets for replicate-design bioequivalence (Annex II:
# rds01, 4-period TRTR|RTRT; Annex III: rds02, 3-period partial TRR|RTR|RRT), as
# distributed by the replicateBE package (CRAN; data from the EMA's public Q&A
# documents of 2016). Run from the package root with replicateBE installed.
# Stored with the reference level first (R, then T) and the sequences in the
# published order; the response PK is kept, logPK (its natural log) dropped.
for (nm in c("rds01", "rds02")) {
  d <- getExportedValue("replicateBE", nm)  # lazy data
  d <- data.frame(subject = factor(d$subject, levels = unique(d$subject)),
                  period = d$period,
                  sequence = factor(d$sequence, levels = if (nm == "rds01") c("TRTR", "RTRT") else c("TRR", "RTR", "RRT")),
                  treatment = factor(d$treatment, levels = c("R", "T")),
                  PK = d$PK)
  rownames(d) <- NULL
  assign(nm, d)
  save(list = nm, file = file.path("data", paste0(nm, ".rda")), compress = "xz")
}
