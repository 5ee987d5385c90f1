"""Cases at the front desk (一窗受理): receiving, materials, the 容缺 rule, the outcomes of acceptance, issuing."""
