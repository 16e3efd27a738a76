"""Post-event surveys: builder, personal links, answering at the venue, results and exports."""
