# The EMA's reference data sets for replicate-design bioequivalence (Annex II:
# rds01, 4-period TRTR|RTRT; Annex III: rds02, 3-period partial TRR|RTR|RRT), as
# distributed by the replicateBE package (CRAN; data from the EMA's public Q&A
# documents of 2016), and two published data sets evaluated with the FDA's mixed
# model in their sources, from the same package: rds04 (Patterson & Jones 2012,
# Table II; partial TRR|RTR|RRT) and rds11 (Hauschke, Steinijans & Pigeot 2007,
# Table 9.6; full TRRT|RTTR). Run from the package root with replicateBE installed.
# Stored with the reference level first (R, then T) and the sequences in the
# published order; the response PK is kept, logPK (its natural log) dropped.
seq_levels <- list(rds01 = c("TRTR", "RTRT"), rds02 = c("TRR", "RTR", "RRT"), rds04 = c("TRR", "RTR", "RRT"),
                   rds11 = c("TRRT", "RTTR"))
for (nm in names(seq_levels)) {
  d <- getExportedValue("replicateBE", nm)  # lazy data
  d <- data.frame(subject = factor(d$subject, levels = unique(d$subject)),
                  period = d$period,
                  sequence = factor(d$sequence, levels = seq_levels[[nm]]),
                  treatment = factor(d$treatment, levels = c("R", "T")),
                  PK = d$PK)
  rownames(d) <- NULL
  assign(nm, d)
  save(list = nm, file = file.path("data", paste0(nm, ".rda")), compress = "xz")
}
